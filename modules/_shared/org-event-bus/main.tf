# An event bus that admits PutEvents only from one AWS Organization or only from listed
# accounts, with three rules (rules.tf) delivering the solution's events to one target: the hub bus
# in the directory Region (target: the queue) and each regional bus of modules/spoke-region
# (target: the regional topic). The bus ARN is built from its name so the policy is known (and
# reviewable) at plan time.

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition      = data.aws_partition.current.partition
  event_bus_name = "${var.name_prefix}-bus"
  event_bus_arn  = "arn:${local.partition}:events:${data.aws_region.current.name}:${var.account_id}:event-bus/${local.event_bus_name}"
  rule_names = {
    ec2_state   = "${var.name_prefix}-ec2-state"
    ssm_command = "${var.name_prefix}-ssm-command"
    lifecycle   = "${var.name_prefix}-lifecycle"
  }
  # Built from names so the callers' target policies (queue, topic) are known at plan time and
  # need no reference to the rules (which reference the target: a cycle).
  rule_arns = [for name in values(local.rule_names) : "arn:${local.partition}:events:${data.aws_region.current.name}:${var.account_id}:rule/${local.event_bus_name}/${name}"]
}

resource "aws_cloudwatch_event_bus" "this" {
  name = local.event_bus_name
  tags = var.tags
}

data "aws_iam_policy_document" "bus" {
  statement {
    sid       = "OrganizationPutEvents"
    actions   = ["events:PutEvents"]
    resources = [local.event_bus_arn]

    principals {
      type        = "AWS"
      identifiers = var.organization_id != null ? ["*"] : [for id in sort(var.allowed_account_ids) : "arn:${local.partition}:iam::${id}:root"]
    }

    dynamic "condition" {
      for_each = var.organization_id != null ? [var.organization_id] : []
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [condition.value]
      }
    }

    # Only the kinds of events the rules match
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html). Both
    # keys are multivalued (one value per entry of PutEvents): every entry must be ours.
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "events:source"
      values   = module.event_patterns.sources
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "events:detail-type"
      values   = module.event_patterns.detail_types
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "this" {
  event_bus_name = aws_cloudwatch_event_bus.this.name
  policy         = data.aws_iam_policy_document.bus.json

  lifecycle {
    precondition {
      condition     = (var.organization_id != null) != (length(var.allowed_account_ids) > 0)
      error_message = "Set exactly one of organization_id and allowed_account_ids: the ${var.description} admits only the organization or only the listed accounts."
    }
  }
}
