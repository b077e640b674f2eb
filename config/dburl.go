package config

// readDBURL resolves the PostgreSQL URL from GLP_DB_URL or GLP_DB_URL_FILE
// (at most one of them; the file keeps the password out of the
// environment, where /proc/PID/environ and `docker inspect` show it) and
// checks it, naming the variable it came from and never its value.
func readDBURL(value *Secret, file string) error {
	if err := readSecret("GLP_DB_URL", value, file, 0); err != nil {
		return err
	}
	name := "GLP_DB_URL"
	if file != "" {
		name = "GLP_DB_URL_FILE"
	}
	return CheckDBURL(name, *value)
}
