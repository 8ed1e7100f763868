# Application events: a topic per producer (local.producer_topics), published on by that
# function only. Publishers use Pub/Sub binary content mode (data = event data JSON,
# attributes ce-*) and, for order events, ordering key = order id.

resource "google_pubsub_topic" "producer" {
  #checkov:skip=CKV_GCP_83:CMEK is opt-in through var.kms_key_name; Google-managed encryption is the default for this suite.
  for_each = local.producer_topics

  name                       = each.value
  project                    = var.project_id
  kms_key_name               = var.kms_key_name
  message_retention_duration = var.events_topic_retention
  labels                     = merge(local.labels, { purpose = "events", producer = replace(each.key, "_", "-") })

  dynamic "message_storage_policy" {
    for_each = length(var.pubsub_allowed_persistence_regions) > 0 ? [var.pubsub_allowed_persistence_regions] : []
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.pubsub]
}

# Storage notifications (JSON_API_V1 object resource as data; attributes eventType, bucketId,
# objectId, objectGeneration, payloadFormat, notificationConfig).
resource "google_pubsub_topic" "uploads" {
  #checkov:skip=CKV_GCP_83:CMEK is opt-in through var.kms_key_name; Google-managed encryption is the default for this suite.
  name         = local.uploads_topic_name
  project      = var.project_id
  kms_key_name = var.kms_key_name
  labels       = merge(local.labels, { purpose = "uploads" })

  dynamic "message_storage_policy" {
    for_each = length(var.pubsub_allowed_persistence_regions) > 0 ? [var.pubsub_allowed_persistence_regions] : []
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.pubsub]
}

# ---------------------------------------------------------------------------------------------
# Dead letters: one topic per consumer, each with its own pull subscription (a dead-letter topic
# without a subscription silently drops what it receives).
# ---------------------------------------------------------------------------------------------

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:CMEK is opt-in through var.kms_key_name; Google-managed encryption is the default for this suite.
  for_each = var.consumers

  name                       = local.dead_letter_topics[each.key]
  project                    = var.project_id
  kms_key_name               = var.kms_key_name
  message_retention_duration = var.dead_letter_topic_retention
  labels                     = merge(local.labels, { purpose = "dead-letter", consumer = each.key })

  dynamic "message_storage_policy" {
    for_each = length(var.pubsub_allowed_persistence_regions) > 0 ? [var.pubsub_allowed_persistence_regions] : []
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.pubsub]
}

resource "google_pubsub_subscription" "dead_letter" {
  for_each = var.consumers

  name                       = local.dead_letter_subs[each.key]
  project                    = var.project_id
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s" # the 7-day maximum; the topic keeps 31 days for seek
  retain_acked_messages      = false
  labels                     = merge(local.labels, { purpose = "dead-letter", consumer = each.key })

  expiration_policy {
    ttl = "" # never expire, even when nobody pulls for 31 days
  }
}

# The Pub/Sub service agent forwards undeliverable messages: it must be able to publish to the
# dead-letter topic and to acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = var.consumers

  project = var.project_id
  topic   = google_pubsub_topic.dead_letter[each.key].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.consumer[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# ---------------------------------------------------------------------------------------------
# Consumer subscriptions: push (OIDC) to the consumer's function, filtered by CloudEvents type.
# ---------------------------------------------------------------------------------------------

resource "google_service_account" "push_invoker" {
  project      = var.project_id
  account_id   = local.push_invoker_sa_id
  display_name = "eventsuite ${var.name_prefix} Pub/Sub push invoker"
  description  = "Identity in the OIDC token of every Pub/Sub push to the event consumers (run.invoker on each)."

  depends_on = [google_project_service.this]
}

# Pub/Sub mints the push OIDC tokens as this account (required explicitly for projects created
# before 2021-04-08; harmless after). Granted on the account, not the project.
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

locals {
  subscription_topic_ids = merge(
    { for p, t in google_pubsub_topic.producer : "events/${p}" => t.id },
    { uploads = google_pubsub_topic.uploads.id },
  )
}

resource "google_pubsub_subscription" "consumer" {
  for_each = local.subscriptions

  name    = each.value.name
  project = var.project_id
  topic   = local.subscription_topic_ids[each.value.topic_key]
  filter  = each.value.filter
  labels  = merge(local.labels, { consumer = each.value.consumer, source = each.value.source })

  # Pub/Sub waits this long for the push response before redelivering: the function timeout plus
  # a margin, capped at Pub/Sub's 600 s maximum.
  ack_deadline_seconds       = min(600, max(10, var.consumers[each.value.consumer].timeout_seconds + var.ack_deadline_margin_seconds))
  message_retention_duration = var.subscription_message_retention
  retain_acked_messages      = false
  enable_message_ordering    = each.value.ordered

  push_config {
    # The path makes functions-framework set the CloudEvent source to
    # //pubsub.googleapis.com/projects/<p>/topics/<topic> when it converts the push body.
    push_endpoint = "${google_cloudfunctions2_function.consumer[each.value.consumer].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic_name}"

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.consumer[each.value.consumer].service_config[0].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.consumer].id
    max_delivery_attempts = min(100, max(5, var.consumers[each.value.consumer].max_delivery_attempts))
  }

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  expiration_policy {
    ttl = "" # never expire
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_cloud_run_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}
