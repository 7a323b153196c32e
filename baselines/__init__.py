"""Built-in method entries: students, teachers and distillation recipes.

Importing this package registers every built-in entry (each module below calls
``robobench.registry.register_entry``).
"""
