package server

import (
	"fmt"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/httpapi"
)

// loadAppservices reads the registrations in app_service_config_files and
// builds the client that talks to them. A bad registration stops the start,
// naming its file: an appservice half-registered would lose its events.
func (s *Server) loadAppservices() error {
	set, err := appservice.Load(s.Config.AppServiceConfigFiles, s.Config.ServerName)
	if err != nil {
		return fmt.Errorf("app_service_config_files: %w", err)
	}
	s.Appservices = set
	// The registrations' own URLs are trusted as the operator wrote them;
	// anything else meets ip_range_blacklist / ip_range_whitelist (see
	// appservice.Client).
	s.AppserviceClient = appservice.NewClient(appservice.ClientConfig{Set: set,
		Guard: netguard.New(s.Config.IPRangeBlacklist, s.Config.IPRangeWhitelist)})
	s.appserviceQueries = appservice.NewQueries(set, s.AppserviceClient, s.Log)
	for _, r := range set.All() {
		s.Log.Info("appservice registered", "id", r.ID, "file", r.File, "url", r.URL, "sender", r.SenderUserID(s.Config.ServerName))
	}
	return nil
}

// wireAppservices serves the Client-Server API's appservice extensions.
func (s *Server) wireAppservices(router *httpapi.Router, resolver httpapi.TokenResolver) {
	api := &clientapi.AppserviceAPI{Auth: resolver, Appservices: s.Appservices, Client: s.AppserviceClient, Now: s.Now, Log: s.Log}
	api.Register(router)
}
