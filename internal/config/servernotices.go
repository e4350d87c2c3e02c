package config

import "gopkg.in/yaml.v3"

// ServerNotices is Synapse's server_notices block: who sends server
// notices and how their room looks (client-server-api "Server Notices"
// leaves both to the server). No system_mxid_localpart: no notices.
type ServerNotices struct {
	SystemMXIDLocalpart   string
	SystemMXIDDisplayName string
	SystemMXIDAvatarURL   string
	// RoomName defaults to "Server Notices", as in Synapse.
	RoomName      string
	RoomAvatarURL string
	RoomTopic     string
	// AutoJoin joins users to their notices room instead of inviting them.
	AutoJoin bool
}

// Enabled reports whether server notices are configured.
func (s *ServerNotices) Enabled() bool { return s.SystemMXIDLocalpart != "" }

func (d *decoder) serverNoticesKeys(c *Config) handlers {
	sn := &c.ServerNotices
	return handlers{
		"server_notices": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"system_mxid_localpart":    d.str(&sn.SystemMXIDLocalpart),
				"system_mxid_display_name": d.str(&sn.SystemMXIDDisplayName),
				"system_mxid_avatar_url":   d.str(&sn.SystemMXIDAvatarURL),
				"room_name":                d.str(&sn.RoomName),
				"room_avatar_url":          d.str(&sn.RoomAvatarURL),
				"room_topic":               d.str(&sn.RoomTopic),
				"auto_join":                d.boolean(&sn.AutoJoin),
			})
		},
	}
}
