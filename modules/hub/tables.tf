# The config table (one item per account, the seed's format) and the state table (one item per
# instance). On demand, point-in-time recovery, encrypted with the hub key.

resource "aws_dynamodb_table" "config" {
  count = local.create_config_table ? 1 : 0

  name         = local.config_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "accountId"

  attribute {
    name = "accountId"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "state" {
  name         = local.state_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "instanceId"

  attribute {
    name = "instanceId"
    type = "S"
  }

  # The reconciler reads one account and Region at a time (adjoin.aws.StateStore.rows_of).
  attribute {
    name = "accountId"
    type = "S"
  }

  attribute {
    name = "region"
    type = "S"
  }

  global_secondary_index {
    name            = "by-account"
    hash_key        = "accountId"
    range_key       = "region"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = var.tags
}
