package config

import "gopkg.in/yaml.v3"

// ExperimentalFeatures is Synapse's experimental_features block: switches
// of unstable features (MSCs not yet in the spec). Myelin reads the keys
// of the features it has; Synapse's other keys get the unknown-key
// warning.
type ExperimentalFeatures struct {
	// MSC3814Enabled serves dehydrated devices (MSC3814, the
	// org.matrix.msc3814.v1 endpoints, and org.matrix.msc3814 in
	// /versions' unstable_features). On by default, unlike Synapse (off
	// by default): Element's clients use dehydrated devices when the
	// server has them, so that a user with no device logged in still
	// receives room keys.
	MSC3814Enabled bool
}

func (d *decoder) experimentalKeys(c *Config) handlers {
	x := &c.Experimental
	return handlers{
		"experimental_features": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"msc3814_enabled": func(k string, v *yaml.Node) {
					// The reference says the default differs from Synapse's.
					if d.describe(k, "boolean (on by default in Myelin, off in Synapse)", x.MSC3814Enabled) {
						return
					}
					d.boolean(&x.MSC3814Enabled)(k, v)
				},
			})
		},
	}
}
