"""backends/aws"""
