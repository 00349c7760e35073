variable "account_id" {
  description = "This workload account's id. Taken as an input so a plan needs no call to AWS."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be the 12-digit id of this workload account."
  }
}

variable "create_account_resources" {
  description = "Create the account-wide resources (the role the hub Lambda assumes). Set it on exactly one instance of this module per account."
  type        = bool
  default     = false
  nullable    = false
}

variable "hub_account_id" {
  description = "The hub (security) account id: events go to its bus in this Region, and its Lambda role is trusted."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.hub_account_id))
    error_message = "hub_account_id must be the 12-digit id of the hub account."
  }
}

variable "hub_lambda_role_arn" {
  description = "ARN of the hub Lambda's role (modules/hub output lambda_role_arn), the only principal the spoke role trusts. null: computed from hub_account_id and name_prefix."
  type        = string
  default     = null

  validation {
    condition     = var.hub_lambda_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", coalesce(var.hub_lambda_role_arn, "x")))
    error_message = "hub_lambda_role_arn must be an IAM role ARN."
  }
}

variable "lifecycle_hooks" {
  description = "Auto Scaling lifecycle hooks: forward the launch and terminate actions of the hooks named <name_prefix>-* (set enabled on every instance of this module in the account), and let the spoke role complete them for the groups tagged group_tag (on the instance with create_account_resources)."
  type = object({
    enabled = optional(bool, false)
    group_tag = optional(object({
      key   = string
      value = string
    }), { key = "adJoinLifecycle", value = "true" })
  })
  default  = {}
  nullable = false

  validation {
    condition     = can(regex("^[^=]{1,128}$", var.lifecycle_hooks.group_tag.key)) && length(var.lifecycle_hooks.group_tag.value) <= 256
    error_message = "lifecycle_hooks.group_tag must be a tag: a key of 1-128 characters and a value of at most 256."
  }
}

variable "name_prefix" {
  description = "Prefix of every name; must equal the hub's (documents, the spoke role and the hub bus are found by name)."
  type        = string
  default     = "ad-join"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 characters of [a-z0-9-], starting with a letter."
  }
}

variable "tags" {
  description = "Tags merged into every taggable resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
