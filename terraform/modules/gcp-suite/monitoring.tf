# Two alert policies per consumer: a backlog that is getting old (the consumer is failing or too
# slow) and anything waiting in its dead-letter subscription (a poison message, or a permanent
# failure the code recorded there).

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == null ? 0 : 1

  project      = var.project_id
  display_name = "eventsuite ${var.name_prefix} alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.this]
}

locals {
  notification_channels = concat(google_monitoring_notification_channel.email[*].id, var.alert_notification_channels)
}

resource "google_monitoring_alert_policy" "backlog_age" {
  for_each = var.consumers

  project      = var.project_id
  display_name = "${local.consumer_names[each.key]}: oldest unacked message older than ${var.alert_oldest_unacked_age_seconds}s"
  combiner     = "OR"
  enabled      = var.alerts_enabled
  severity     = "WARNING"

  notification_channels = local.notification_channels
  user_labels           = merge(local.labels, { consumer = each.key })

  dynamic "conditions" {
    for_each = toset(local.consumer_subscriptions[each.key])
    content {
      display_name = "${conditions.value} oldest_unacked_message_age > ${var.alert_oldest_unacked_age_seconds}s"

      condition_threshold {
        filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${conditions.value}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
        comparison      = "COMPARISON_GT"
        threshold_value = var.alert_oldest_unacked_age_seconds
        duration        = var.alert_duration

        aggregations {
          alignment_period   = "60s"
          per_series_aligner = "ALIGN_MAX"
        }

        trigger {
          count = 1
        }
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${local.consumer_names[each.key]} is falling behind"
    content   = "Consumer `${each.key}` has not acknowledged a message for more than ${var.alert_oldest_unacked_age_seconds}s on ${join(", ", local.consumer_subscriptions[each.key])}. Check the `${local.consumer_names[each.key]}` function logs and errors; Pub/Sub retries with backoff and dead-letters after the catalog's max delivery attempts to `${local.dead_letter_topics[each.key]}`."
  }

  depends_on = [google_pubsub_subscription.consumer, google_project_service.this]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  for_each = var.consumers

  project      = var.project_id
  display_name = "${local.consumer_names[each.key]}: dead letters waiting"
  combiner     = "OR"
  enabled      = var.alerts_enabled
  severity     = "ERROR"

  notification_channels = local.notification_channels
  user_labels           = merge(local.labels, { consumer = each.key })

  conditions {
    display_name = "${local.dead_letter_subs[each.key]} num_undelivered_messages > 0"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${local.dead_letter_subs[each.key]}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${local.consumer_names[each.key]} has dead letters"
    content   = "Messages are waiting in `${local.dead_letter_subs[each.key]}` (topic `${local.dead_letter_topics[each.key]}`, retained ${var.dead_letter_topic_retention}). Pull them to read the attributes (the code adds the failure reason), fix the cause, then republish them to the producer's topic (`${local.events_topic_prefix}-<producer>`) or seek."
  }

  depends_on = [google_pubsub_subscription.dead_letter, google_project_service.this]
}
