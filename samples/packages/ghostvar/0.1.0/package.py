name = "ghostvar"
version = "0.1.0"
description = "Configuration-only package whose variant directories were never built."
variants = [
    ["maya-2024"],
    ["maya-2025"],
]

def commands():
    env.GHOSTVAR = "1"
