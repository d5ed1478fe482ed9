"""The skill library: mining, gates, quality, dedup, conditions, versions, seeding, usage."""
