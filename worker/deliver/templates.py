"""The Jinja2 environment of digests and alerts, and the start-up check of its templates.

Built-in templates live in the repository's `templates/` folder (the one copy); the
package reaches them through `worker/deliver/template_files`, a symlink to that folder
that building a wheel turns into real files (package-data "deliver/template_files/*.j2").
A user's folder (settings.templates_dir) comes first: it may override any single template
and can extend a built-in one as "builtin/<name>". Without built-in templates (an install
that lost them), a user's folder holding every template still works.

Templates: digest.subject.j2, digest.html.j2, digest.txt.j2, alert.txt.j2. HTML
templates are autoescaped; undefined variables are errors, not blanks.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from worker.errors import ConfigError

__all__ = ["TEMPLATE_NAMES", "builtin_templates_dir", "check_templates", "make_template_env"]

TEMPLATE_NAMES = ("digest.subject.j2", "digest.html.j2", "digest.txt.j2", "alert.txt.j2")
_SAMPLE_UNSUBSCRIBE = "https://news.example.com/unsubscribe?token=SAMPLE-TOKEN"


def builtin_templates_dir() -> Path | None:
    """The folder of the built-in templates (package link first, then the checkout's)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "template_files", here.parents[1] / "templates"):
        if (candidate / "digest.html.j2").is_file():
            return candidate
    return None


def make_template_env(templates_dir: Path | None = None) -> Environment:
    """An Environment looking in `templates_dir` (if given) before the built-in templates.

    Raises ConfigError when `templates_dir` is given but is not a folder, or when there is
    neither a user folder nor built-in templates.
    """
    loaders: list[FileSystemLoader | PrefixLoader] = []
    if templates_dir is not None:
        if not Path(templates_dir).is_dir():
            raise ConfigError(
                "templates folder not found (NEWSWATCH_TEMPLATES_DIR)", str(templates_dir)
            )
        loaders.append(FileSystemLoader(str(templates_dir)))
    builtin = builtin_templates_dir()
    if builtin is not None:
        loaders += [
            FileSystemLoader(str(builtin)),
            PrefixLoader({"builtin": FileSystemLoader(str(builtin))}),
        ]
    elif not loaders:
        raise ConfigError(
            "built-in templates are missing from this install; "
            "point NEWSWATCH_TEMPLATES_DIR at a copy of templates/"
        )
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"), default_for_string=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["score"] = lambda value: f"{value:.1f}"
    return env


def _where(filename: str | None, name: str) -> str:
    if not filename:
        return name
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def _runtime_line(exc: BaseException, filenames: set[str]) -> tuple[str | None, int | None]:
    """The template file and line a render error happened at (Jinja maps its frames)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in filenames or frame.filename.endswith(".j2"):
            return frame.filename, frame.lineno
    return None, None


def check_templates(env: Environment) -> list[str]:
    """Render every template against sample data; one "file:line: message" per problem.

    Also reports a digest whose HTML or text part does not show the unsubscribe link.
    """
    from worker.deliver.digest import render_digest
    from worker.deliver.sample import (
        sample_digest,
        sample_entries,
        sample_subscription,
        sample_watchlist_names,
    )

    errors: list[str] = []
    files: set[str] = set()
    for name in TEMPLATE_NAMES:
        try:
            template = env.get_template(name)
        except TemplateSyntaxError as exc:
            errors.append(f"{_where(exc.filename, name)}:{exc.lineno}: {exc.message}")
            continue
        except TemplateNotFound:
            errors.append(f"{name}: template not found")
            continue
        if template.filename:
            files.add(template.filename)
    if errors:
        return errors
    try:
        from worker.deliver.alert import build_alert, render_alert

        render_alert(build_alert(sample_subscription(), sample_entries()[0]), env)
        rendered = render_digest(
            sample_digest(),
            env,
            unsubscribe_url=_SAMPLE_UNSUBSCRIBE,
            watchlist_names=sample_watchlist_names(),
        )
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
        filename, line = _runtime_line(exc, files)
        where = f"{_where(filename, '?')}:{line}" if filename else "templates"
        message = getattr(exc, "message", None) or str(exc)
        return [f"{where}: {type(exc).__name__}: {message}"]
    for part, body in (("digest.html.j2", rendered.html), ("digest.txt.j2", rendered.text)):
        if _SAMPLE_UNSUBSCRIBE.split("?")[0] not in body:
            errors.append(f"{part}: does not show the unsubscribe link ({{{{ unsubscribe_url }}}})")
    if not rendered.subject:
        errors.append("digest.subject.j2: renders an empty subject")
    return errors
