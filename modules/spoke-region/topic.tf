# The regional topic and the hub queue's cross-Region subscription. A subscription lives in its
# topic's Region, so it is created with this module's default provider; the hub queue policy
# already admits this topic (modules/hub computes its ARN from name_prefix and spoke_regions).

resource "aws_sns_topic" "this" {
  name              = local.topic_name
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags

  lifecycle {
    precondition {
      condition     = data.aws_region.hub.name != local.region
      error_message = "modules/spoke-region must run in a Region other than the hub's (the hub bus already serves the directory Region)."
    }
  }
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "RegionalBusRules"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = module.event_bus.rule_arns
    }
  }

  # No forged events, not even from this account's own principals.
  statement {
    sid       = "OnlyOurRules"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:SourceArn"
      values   = module.event_bus.rule_arns
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "hub_queue" {
  topic_arn            = aws_sns_topic.this.arn
  protocol             = "sqs"
  endpoint             = var.hub_queue_arn
  raw_message_delivery = true
}
