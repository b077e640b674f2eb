package config

import (
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/seal"
)

// Admin authentication modes (GLP_ADMIN_AUTH).
const (
	AdminAuthToken = "token"
	AdminAuthProxy = "proxy"
)

// checkPersonalData checks GLP_SEND_PERSONAL_DATA, GLP_DATA_KEY_FILE,
// GLP_ADMIN_AUTH and GLP_AUDIT_RETENTION, and reads the key file. Its
// errors never show the key.
func (c *Config) checkPersonalData() error {
	p, err := sidecar.ParseSendPolicy(c.SendPersonalData)
	if err != nil {
		return &Error{"GLP_SEND_PERSONAL_DATA", err.Error()}
	}
	c.SendPolicy = p
	c.DataKey = nil
	if c.DataKeyFile != "" {
		k, err := ReadDataKey(c.DataKeyFile)
		if err != nil {
			return err
		}
		c.DataKey = &k
	}
	switch c.AdminAuth {
	case AdminAuthToken:
	case AdminAuthProxy:
		if len(c.Trusted) == 0 {
			return &Error{"GLP_ADMIN_AUTH", "proxy needs GLP_TRUSTED_PROXIES to name the authenticating proxy's address"}
		}
	default:
		return &Error{"GLP_ADMIN_AUTH", "must be token or proxy"}
	}
	if c.AuditRetention < 24*time.Hour {
		return &Error{"GLP_AUDIT_RETENTION", "must be a duration of at least 24h, such as 52560h (6 years)"}
	}
	return nil
}

// ReadDataKey reads GLP_DATA_KEY_FILE (or a command's --key-file, named
// by name) without ever quoting its content.
func ReadDataKey(path string) (seal.Key, error) {
	k, err := seal.ReadKeyFile(path)
	if err != nil {
		return k, &Error{"GLP_DATA_KEY_FILE", err.Error()}
	}
	return k, nil
}
