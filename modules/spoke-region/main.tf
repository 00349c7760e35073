# Names shared with modules/hub (which computes this topic's ARN from name_prefix) and
# modules/spoke-account (which computes this bus's ARN).

data "aws_partition" "current" {}

data "aws_region" "current" {}

# The hub's Region, from the aws.hub provider: this module must run in another Region.
data "aws_region" "hub" {
  provider = aws.hub
}

locals {
  partition             = data.aws_partition.current.partition
  region                = data.aws_region.current.name
  topic_name            = "${var.name_prefix}-events"
  linux_join_document   = "${var.name_prefix}-linux-join"
  windows_join_document = "${var.name_prefix}-windows-join"

  # ARNs built from names so the policy documents are known at plan time.
  topic_arn = "arn:${local.partition}:sns:${local.region}:${var.account_id}:${local.topic_name}"
}
