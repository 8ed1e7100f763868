# Alerts to existing notification channels, persistence regions pinned, a named database.
project_id                                 = "eventsuite-test-1"
mail_from                                  = "orders@example.com"
harness_alert_notification_channels        = ["projects/eventsuite-test-1/notificationChannels/123"]
harness_pubsub_allowed_persistence_regions = ["europe-west1"]
harness_events_topic_retention             = "86400s"
harness_firestore_database_id              = "orders-db"
payment_provider                           = "stripe"
