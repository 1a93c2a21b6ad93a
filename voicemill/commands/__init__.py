"""Click command groups that ``voicemill.cli`` mounts on the top-level ``voicemill`` command."""
