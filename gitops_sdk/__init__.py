"""gitops_sdk"""
