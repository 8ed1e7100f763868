output "producer_topics" {
  description = "Producer function => its own Pub/Sub events topic (only it may publish there)."
  value       = module.gcp_suite.producer_topics
}

output "uploads_topic" {
  description = "Pub/Sub topic receiving upload notifications."
  value       = module.gcp_suite.uploads_topic
}

output "subscriptions" {
  description = "Consumer -> its push subscriptions."
  value       = module.gcp_suite.subscriptions
}

output "subscription_details" {
  description = "Subscription -> consumer, topic, filter, ordering, push endpoint."
  value       = module.gcp_suite.subscription_details
}

output "dead_letter_topics" {
  description = "Consumer -> dead-letter topic."
  value       = module.gcp_suite.dead_letter_topics
}

output "dead_letter_subscriptions" {
  description = "Consumer -> dead-letter pull subscription."
  value       = module.gcp_suite.dead_letter_subscriptions
}

output "buckets" {
  description = "Bucket names by purpose."
  value       = module.gcp_suite.buckets
}

output "consumer_function_uris" {
  description = "Consumer -> function URI."
  value       = module.gcp_suite.consumer_function_uris
}

output "http_endpoint_uris" {
  description = "HTTP endpoint -> function URI."
  value       = module.gcp_suite.http_endpoint_uris
}

output "firestore_database" {
  description = "Firestore database id."
  value       = module.gcp_suite.firestore_database
}

output "webhook_secret_id" {
  description = "Secret Manager secret for the webhook HMAC secret(s)."
  value       = module.gcp_suite.webhook_secret_id
}

output "push_invoker_service_account" {
  description = "Identity of Pub/Sub push requests."
  value       = module.gcp_suite.push_invoker_service_account
}

output "schedule_function_names" {
  description = "Catalog schedule -> function name."
  value       = module.gcp_suite.schedule_function_names
}

output "schedule_jobs" {
  description = "Catalog schedule -> Cloud Scheduler job (id, cron in UTC, function URI)."
  value       = module.gcp_suite.schedule_jobs
}

output "project_id" {
  description = "Project the suite runs in (the operator CLI's EVENTSUITE_GCP_PROJECT)."
  value       = var.project_id
}

output "stripe_api_key_secret_id" {
  description = "Secret Manager secret to add the Stripe secret API key to (`gcloud secrets versions add`); null with payment_provider = simulated."
  value       = module.gcp_suite.stripe_api_key_secret_id
}
