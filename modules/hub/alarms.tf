# Alarms on the DLQ depth, Lambda errors and the Lambda's JoinFailed, Rejected and ReconcileCapped
# metrics, with an
# optional KMS-encrypted SNS topic for them.

resource "aws_sns_topic" "alarms" {
  count             = var.alarms.create_sns_topic ? 1 : 0
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "alarms" {
  count = var.alarms.create_sns_topic ? 1 : 0

  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [local.alarm_topic_arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count  = var.alarms.create_sns_topic ? 1 : 0
  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarms[0].json
}

locals {
  # Every alarm fires when its metric is above 0 in a 5-minute period; they differ only in what
  # they watch. Keyed by metric name for the Lambda's own metrics (their v0.1.0 addresses).
  alarms = {
    dlq_depth = {
      name        = "dlq-not-empty"
      description = "Messages in the ${var.name_prefix} dead-letter queue: events that could not be processed (see the reason attribute)."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.dlq.name }
      statistic   = "Maximum"
    }
    lambda_errors = {
      name        = "lambda-errors"
      description = "The ${var.name_prefix} Lambda raised errors (whole batches failed)."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = "Sum"
    }
    JoinFailed = {
      name        = "joinfailed"
      description = "The ${var.name_prefix} Lambda reported JoinFailed (see its logs and the state table)."
      namespace   = var.lambda_config.powertools_metrics_namespace
      metric_name = "JoinFailed"
      dimensions  = { service = var.name_prefix }
      statistic   = "Sum"
    }
    ReconcileCapped = {
      name        = "reconcile-capped"
      description = "A ${var.name_prefix} reconcile task would have deleted more than the cap (reconcile.max_deletions / max_deletion_percent) and deleted nothing: check the account's DescribeInstances and its computer objects (the report is in the Lambda's log)."
      namespace   = var.lambda_config.powertools_metrics_namespace
      metric_name = "ReconcileCapped"
      dimensions  = { service = var.name_prefix }
      statistic   = "Sum"
    }
    Rejected = {
      name        = "rejected"
      description = "The ${var.name_prefix} Lambda reported Rejected (see its logs and the state table)."
      namespace   = var.lambda_config.powertools_metrics_namespace
      metric_name = "Rejected"
      dimensions  = { service = var.name_prefix }
      statistic   = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "metric" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${each.value.name}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  depends_on = [aws_sns_topic_policy.alarms]
}

# The DLQ and Lambda error alarms were separate resources up to v0.1.0.
moved {
  from = aws_cloudwatch_metric_alarm.dlq_depth
  to   = aws_cloudwatch_metric_alarm.metric["dlq_depth"]
}

moved {
  from = aws_cloudwatch_metric_alarm.lambda_errors
  to   = aws_cloudwatch_metric_alarm.metric["lambda_errors"]
}
