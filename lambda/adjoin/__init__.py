"""Automatic Active Directory join for EC2 instances across accounts and Regions."""

__version__ = "0.1.0"
