"""Compatibility name for existing automation: ``python -m torchtune_config_writer generate X``.

It is ttgen under its old name; new code should use ``ttgen`` directly.
"""
