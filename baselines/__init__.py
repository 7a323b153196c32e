"""Built-in method entries: students, teachers and distillation recipes.

Importing this package registers every built-in entry (each module below calls
``robobench.registry.register_entry``).
"""

from baselines import bevdepth, bevdepth4d, bevdet, bevformer, centerpoint  # noqa: F401  (import registers entries)
from baselines import bevdepth_radar  # noqa: F401  (import registers entries)
from baselines.distill import entries as distill_entries  # noqa: F401,E402  (distillation entries; after the students they wrap)
from baselines import imkd  # noqa: F401  (import registers entries)
