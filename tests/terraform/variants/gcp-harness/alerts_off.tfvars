# Alerts off, an existing build service account, ordering off, a multi-region bucket location.
project_id                               = "eventsuite-test-1"
mail_from                                = "orders@example.com"
harness_alerts_enabled                   = false
harness_build_service_account_email      = "builder@eventsuite-test-1.iam.gserviceaccount.com"
harness_bucket_location                  = "EU"
harness_enable_message_ordering          = false
harness_schedules_paused                 = true
harness_firestore_point_in_time_recovery = false
payment_provider                         = "simulated"
