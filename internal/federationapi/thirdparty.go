package federationapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/tpinvite"
)

// exchangeThirdPartyInvite is PUT
// /v1/exchange_third_party_invite/{roomId}: the invitee's server, told by
// an identity server that its user bound an invited address, asks us, the
// inviter's server, to build and send the invite (server-server-api
// "Third-party invites").
func (a *API) exchangeThirdPartyInvite(w http.ResponseWriter, r *http.Request) {
	body, err := httpapi.ReadBody(r, maxSmallBody)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := a.ThirdPartyInvites.Exchange(r.Context(), a.Origin(r), r.PathValue("roomId"), body); err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
}

// onBind is PUT /v1/3pid/onbind: an identity server tells us one of our
// users bound a third-party identifier, with the invites it kept for it.
// The request carries no server signature (the spec gives it no security
// scheme); what authorises each invite is the identity server's signature
// in its signed object, checked against the room's
// m.room.third_party_invite when the member event is built.
func (a *API) onBind(w http.ResponseWriter, r *http.Request) {
	var b tpinvite.Binding
	if err := httpapi.ReadJSON(r, maxSmallBody, &b); err != nil {
		writeErr(w, err)
		return
	}
	if err := a.ThirdPartyInvites.OnBind(r.Context(), b); err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
}
