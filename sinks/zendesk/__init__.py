"""A Zendesk Support account: customers upserted as users and organizations in bulk jobs."""
