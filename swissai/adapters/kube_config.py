"""The one kubeconfig loader of swissai: `deploy`/`status`/`rollback`/`destroy` and
`check --cluster` connect through `load_api_client()`.

Which configuration, as kubectl chooses it:

- `--kubeconfig FILE` (it must exist);
- else `$KUBECONFIG` when it is set: only the files it names (`os.pathsep`-separated, merged
  as kubectl merges them; names that do not exist are skipped). When none of them exists this
  is exit 3 naming them: never a silent fall back to `~/.kube/config`, which may point at
  another cluster;
- else `~/.kube/config`;
- else, inside a pod (`KUBERNETES_SERVICE_HOST`), the service account (in-cluster config).

Each file is parsed before the client reads it, so a malformed one is exit 3 naming the file
(not a traceback). CA bundles, client certificates, tokens and exec credential plugins (OIDC)
are the client's own; the cluster entry's `proxy-url` is applied here as well (older
kubernetes clients ignore it), else `HTTPS_PROXY`/`NO_PROXY` from the environment.

`kubernetes` is imported inside the function (it costs ~0.6 s).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from swissai.errors import EnvironmentProblem

DEFAULT_KUBECONFIG = "~/.kube/config"


def kubeconfig_files(kubeconfig: Path | None) -> list[Path] | None:
    """The kubeconfig files to merge, or None when there is none (in-cluster may apply)."""
    if kubeconfig is not None:
        path = kubeconfig.expanduser()
        if not path.is_file():
            raise EnvironmentProblem(
                f"kubeconfig {kubeconfig} does not exist", hint="pass an existing --kubeconfig"
            )
        return [path]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        named = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
        existing = [p for p in named if p.is_file()]
        if existing:
            return existing
        if named:
            raise EnvironmentProblem(
                "KUBECONFIG names no existing kubeconfig file: "
                + ", ".join(str(p) for p in named)
                + " (swissai does not fall back to ~/.kube/config)",
                hint="fix KUBECONFIG, or unset it to use ~/.kube/config",
            )
    default = Path(DEFAULT_KUBECONFIG).expanduser()
    return [default] if default.is_file() else None


def read_kubeconfigs(files: list[Path]) -> list[dict[str, Any]]:
    """Each file parsed; a file that is not a YAML mapping is exit 3 naming it."""
    import yaml

    docs: list[dict[str, Any]] = []
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot read the kubeconfig {path}: {exc.strerror or exc}",
                hint="check the file's permissions (kubectl reads it as the same user)",
            ) from exc
        except UnicodeDecodeError as exc:
            raise EnvironmentProblem(
                f"the kubeconfig {path} is not UTF-8 text (byte {exc.start})",
                hint="check it with `kubectl config view --kubeconfig FILE`",
            ) from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise EnvironmentProblem(
                f"the kubeconfig {path} is not valid YAML{where}",
                hint="check it with `kubectl config view --kubeconfig FILE`",
            ) from exc
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise EnvironmentProblem(
                f"the kubeconfig {path} is not a kubeconfig (not a YAML mapping)",
                hint="check it with `kubectl config view --kubeconfig FILE`",
            )
        docs.append(doc)
    return docs


def _entries(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = doc.get(key)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def current_context(docs: list[dict[str, Any]]) -> str | None:
    """`current-context` of the first file that sets one (kubectl's merge rule)."""
    for doc in docs:
        if doc.get("current-context"):
            return str(doc["current-context"])
    return None


def proxy_url(docs: list[dict[str, Any]], context: str | None) -> str | None:
    """`proxy-url` of the context's cluster entry (kubectl honours it; older clients do not)."""
    current = context or current_context(docs)
    cluster_name = None
    for doc in docs:  # the first file that defines a name wins, as in kubectl
        entry = next((e for e in _entries(doc, "contexts") if e.get("name") == current), None)
        if entry is not None:
            cluster_name = (entry.get("context") or {}).get("cluster")
            break
    for doc in docs:
        entry = next((e for e in _entries(doc, "clusters") if e.get("name") == cluster_name), None)
        if entry is not None:
            url = (entry.get("cluster") or {}).get("proxy-url")
            return str(url) if url else None
    return None


def load_api_client(context: str | None, kubeconfig: Path | None) -> tuple[Any, str, str]:
    """A configured `kubernetes.client.ApiClient`, the context name and the server URL."""
    import yaml
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    files = kubeconfig_files(kubeconfig)
    try:
        if files is not None:
            docs = read_kubeconfigs(files)
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(str(f) for f in files),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            proxy = proxy_url(docs, context)
            if proxy:
                configuration.proxy = proxy
            name = context or current_context(docs) or "default"
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            name = "in-cluster"
        else:
            raise EnvironmentProblem(
                "no kubeconfig and not running inside a cluster",
                hint="set KUBECONFIG (or pass --kubeconfig where the command has it); "
                "`kubectl config view` works when this is set up",
            )
    except ConfigException as exc:
        raise EnvironmentProblem(
            f"cannot use the kubeconfig: {exc}",
            hint="check --context and the kubeconfig (kubectl config get-contexts)",
        ) from exc
    except yaml.YAMLError as exc:  # a file that changed after it was checked above
        raise EnvironmentProblem(f"a kubeconfig is not valid YAML: {exc}") from exc
    except (AttributeError, KeyError, TypeError) as exc:  # valid YAML, wrong shape
        shown = ", ".join(str(f) for f in files or [])
        raise EnvironmentProblem(
            f"the kubeconfig {shown} is malformed ({type(exc).__name__}: {exc})",
            hint="check it with `kubectl config view`",
        ) from exc
    except OSError as exc:  # an exec credential plugin that is missing or fails
        raise EnvironmentProblem(
            f"cannot get credentials from the kubeconfig: {exc}",
            hint="run the credential plugin of the kubeconfig once by hand (e.g. kubelogin)",
        ) from exc
    return client.ApiClient(configuration), name, str(configuration.host)
