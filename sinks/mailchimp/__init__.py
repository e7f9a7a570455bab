"""A Mailchimp audience: customers upserted as members by subscriber hash, archived when deleted."""
