"""`seamline notify`: every failed record announced to the people who fix it, by e-mail, Slack, SMS or webhook."""
