output "producer_topics" {
  description = "Producer (a function declaring the publisher port) => its own Pub/Sub events topic (short name; its EVENTSUITE_EVENTS_TOPIC). Only that function may publish on it."
  value       = { for p, t in google_pubsub_topic.producer : p => t.name }
}

output "uploads_topic" {
  description = "Pub/Sub topic receiving the uploads bucket's OBJECT_FINALIZE notifications."
  value       = google_pubsub_topic.uploads.name
}

output "subscriptions" {
  description = "Consumer -> names of its push subscriptions."
  value       = local.consumer_subscriptions
}

output "subscription_details" {
  description = "Subscription name -> consumer, source topic, filter, ordering and push endpoint."
  value = {
    for k, s in local.subscriptions : s.name => {
      consumer              = s.consumer
      topic                 = s.topic_name
      filter                = s.filter
      message_ordering      = s.ordered
      push_endpoint         = google_pubsub_subscription.consumer[k].push_config[0].push_endpoint
      max_delivery_attempts = google_pubsub_subscription.consumer[k].dead_letter_policy[0].max_delivery_attempts
      ack_deadline_seconds  = google_pubsub_subscription.consumer[k].ack_deadline_seconds
    }
  }
}

output "dead_letter_topics" {
  description = "Consumer -> its dead-letter topic (short name; EVENTSUITE_DEAD_LETTER_TOPIC)."
  value       = { for c in keys(var.consumers) : c => google_pubsub_topic.dead_letter[c].name }
}

output "dead_letter_subscriptions" {
  description = "Consumer -> the pull subscription holding its dead letters."
  value       = { for c in keys(var.consumers) : c => google_pubsub_subscription.dead_letter[c].name }
}

output "buckets" {
  description = "Bucket names by purpose."
  value = {
    uploads    = google_storage_bucket.uploads.name
    thumbnails = google_storage_bucket.thumbnails.name
    claims     = google_storage_bucket.claims.name
    source     = google_storage_bucket.source.name
  }
}

output "consumer_function_uris" {
  description = "Consumer -> run.app URI of its function (push endpoint base; not publicly invocable)."
  value       = { for c in keys(var.consumers) : c => google_cloudfunctions2_function.consumer[c].service_config[0].uri }
}

output "http_endpoint_uris" {
  description = "HTTP endpoint -> run.app URI of its function."
  value       = { for e in keys(var.http_endpoints) : e => google_cloudfunctions2_function.http[e].service_config[0].uri }
}

output "function_names" {
  description = "Catalog name (consumer, endpoint or schedule) -> Cloud Functions gen2 function name."
  value       = local.all_function_names
}

output "function_service_accounts" {
  description = "Catalog name -> runtime service account email."
  value       = { for k in keys(local.functions) : k => google_service_account.function[k].email }
}

output "push_invoker_service_account" {
  description = "Service account whose OIDC token Pub/Sub attaches to every push."
  value       = google_service_account.push_invoker.email
}

output "firestore_database" {
  description = "Firestore database id (EVENTSUITE_FIRESTORE_DATABASE)."
  value       = google_firestore_database.this.name
}

output "webhook_secret_id" {
  description = "Secret Manager secret holding the webhook HMAC secret(s); add versions out of band."
  value       = google_secret_manager_secret.webhook.secret_id
}

output "alert_policies" {
  description = "Consumer -> alert policy ids (backlog age, dead letters)."
  value = {
    for c in keys(var.consumers) : c => {
      backlog_age  = google_monitoring_alert_policy.backlog_age[c].id
      dead_letters = google_monitoring_alert_policy.dead_letters[c].id
    }
  }
}

output "schedule_function_names" {
  description = "Catalog schedule -> Cloud Functions gen2 function name (entry point handle_schedule)."
  value       = { for s in keys(var.schedules) : s => google_cloudfunctions2_function.schedule[s].name }
}

output "schedule_jobs" {
  description = "Catalog schedule -> Cloud Scheduler job: id, cron (UTC) and the function URI it posts to."
  value = {
    for s in keys(var.schedules) : s => {
      id       = google_cloud_scheduler_job.schedule[s].id
      schedule = google_cloud_scheduler_job.schedule[s].schedule
      uri      = google_cloudfunctions2_function.schedule[s].service_config[0].uri
    }
  }
}

output "scheduler_service_account" {
  description = "Service account whose OIDC token Cloud Scheduler attaches to every schedule run (null without schedules)."
  value       = one(google_service_account.scheduler[*].email)
}

output "schedule_alert_policies" {
  description = "Catalog schedule -> id of its alert policy (failed or missing runs)."
  value       = { for s in keys(var.schedules) : s => google_monitoring_alert_policy.schedule_failures[s].id }
}

output "stripe_api_key_secret_id" {
  description = "Secret Manager secret to add the Stripe secret API key to as a version (payment_provider = stripe; null otherwise)."
  value       = one(google_secret_manager_secret.stripe[*].secret_id)
}
