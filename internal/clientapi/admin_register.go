package clientapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/users"
)

// Shared-secret registration, Synapse's admin API
// (/_synapse/admin/v1/register, documented in Synapse's
// docs/admin_api/register_api.md). The request and response shapes are
// Synapse's so that its register_new_matrix_user script works unchanged.

// sharedSecretNonce is GET /_synapse/admin/v1/register.
func (a *AccountAPI) sharedSecretNonce(w http.ResponseWriter, r *http.Request) {
	nonce, err := a.svc.RegistrationNonce()
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]string{"nonce": nonce})
}

type sharedSecretBody struct {
	Nonce       string `json:"nonce"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	Admin       bool   `json:"admin"`
	UserType    string `json:"user_type"`
	DisplayName string `json:"displayname"`
	MAC         string `json:"mac"`
}

// sharedSecretRegister is POST /_synapse/admin/v1/register.
func (a *AccountAPI) sharedSecretRegister(w http.ResponseWriter, r *http.Request) {
	if !a.svc.SharedSecretEnabled() {
		// Before reading the body, as Synapse does.
		httpapi.WriteError(w, users.ErrSharedSecretDisabled)
		return
	}
	var body sharedSecretBody
	if err := httpapi.ReadJSON(r, accountMaxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := a.svc.SharedSecretRegister(r.Context(), users.SharedSecretRequest{
		Nonce: body.Nonce, Username: body.Username, Password: body.Password, Admin: body.Admin,
		UserType: body.UserType, DisplayName: body.DisplayName, MAC: body.MAC,
		IP: httpapi.ClientIP(r), UserAgent: httpapi.UserAgent(r),
	})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]string{
		"access_token": res.AccessToken,
		"user_id":      res.UserID,
		"home_server":  string(a.svc.ServerName()),
		"device_id":    res.DeviceID,
	})
}
