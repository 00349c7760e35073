# The directory Region (default provider) and one aliased provider per pre-wired Region: a
# provider cannot vary inside for_each, so each Region that may host a spoke-region module has
# its own provider here and its own module block in main.tf, toggled by var.spoke_regions.
# Add a Region by copying one provider and one module block.
# Credentials come from the usual chain (profile, SSO, environment) of the hub account.

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "use1"
  region = "us-east-1"

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "use2"
  region = "us-east-2"

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "usw2"
  region = "us-west-2"

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "euw1"
  region = "eu-west-1"

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "euc1"
  region = "eu-central-1"

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "apse2"
  region = "ap-southeast-2"

  default_tags {
    tags = var.tags
  }
}
