"""Number formats for Simplified Chinese pages, over Django's (django/conf/locale/zh_Hans).

Django's leave large numbers ungrouped ("1234567" tokens); CLDR and Chinese developer consoles
group them in threes with a comma ("1,234,567"). Dates keep Django's (2026年12月6日); every other
format falls through to Django's module.
"""

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
