variable "account_id" {
  description = "The hub (security) account id, the same as modules/hub's. Taken as an input so a plan needs no call to AWS."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "allowed_account_ids" {
  description = "Accounts allowed to put events on the regional bus. Exactly one of organization_id and allowed_account_ids must be set (use the hub's values)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must hold 12-digit AWS account ids."
  }
}

variable "hub_queue_arn" {
  description = "ARN of the hub's domain-join queue (modules/hub output queue_arn), subscribed to this Region's topic."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.hub_queue_arn))
    error_message = "hub_queue_arn must be an SQS queue ARN."
  }
}

variable "name_prefix" {
  description = "Prefix of every name; must equal the hub's (the hub computes this Region's topic ARN from it)."
  type        = string
  default     = "ad-join"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 characters of [a-z0-9-], starting with a letter."
  }
}

variable "organization_id" {
  description = "AWS Organizations id whose accounts may put events on the regional bus. Exactly one of organization_id and allowed_account_ids must be set."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", coalesce(var.organization_id, "x")))
    error_message = "organization_id must look like o-xxxxxxxxxx."
  }
}

variable "tags" {
  description = "Tags merged into every taggable resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
