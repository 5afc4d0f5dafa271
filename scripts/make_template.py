"""Build the built-in template and atlas into the cache and print where they are.

Ingest builds them at first use anyway (~10 s); run this to look at them (e.g. in a
viewer) or to build once before starting many parallel jobs. Nothing is written into
the package: derived Harvard-Oxford files are not redistributed (FSL licence).
"""

from spectstage import template


def main() -> None:
    folder = template.builtin_folder()
    print(f"built-in template {template.builtin_key()}: {folder}")
    for name in (template.TEMPLATE_FILE, template.ATLAS_FILE, template.LABELS_FILE):
        print(f"  {folder / name}")


if __name__ == "__main__":
    main()
