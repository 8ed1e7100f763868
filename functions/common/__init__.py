"""Helpers shared by the entry points of every platform (aws, gcp, azure, local).

Standard library only, so importing them costs nothing at cold start and pulls in no cloud
SDK. Anything cloud-agnostic that the core needs too belongs in ``shared/`` instead. Every
cloud package bundles this folder (``functions.packaging.core_files``).
"""
