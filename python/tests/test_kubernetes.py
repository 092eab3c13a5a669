"""deploy/kubernetes: the manifests validate offline against the Kubernetes schemas (strict:
an unknown field fails, which a broken copy shows), agree with the settings the binary loads,
and ask for exactly the pod security docs/kubernetes.md explains; and a jail runs in a namespace
built like such a pod, where a masked /proc or a missing capability fails at the named step.
"""
import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

from serve_util import BIN

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")
VALIDATE = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
PODLIKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "podlike.py")


def manifests():
    return sorted(os.path.join(DEPLOY, f) for f in os.listdir(DEPLOY)
                  if f.endswith(".yaml") and f != "kustomization.yaml")


def load(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return yaml.safe_load(f)


def validate(paths):
    return subprocess.run([VALIDATE, "--strict", "-k", "1.31.0", "--quiet", *paths],
                          capture_output=True, text=True, timeout=120)


def test_the_manifests_validate_against_the_kubernetes_schemas(tmp_path):
    paths = manifests()
    assert len(paths) == 7
    r = validate(paths)
    assert r.returncode == 0, r.stdout + r.stderr
    # The kustomization lists every manifest.
    assert sorted(load("kustomization.yaml")["resources"]) == sorted(os.path.basename(p) for p in paths)
    # Control: a typo in a field is caught (so the check above could fail).
    broken = tmp_path / "deployment.yaml"
    broken.write_text(open(os.path.join(DEPLOY, "deployment.yaml")).read().replace("readinessProbe:", "readynessProbe:"))
    r = validate([str(broken)])
    assert r.returncode != 0 and "readynessProbe" in r.stdout + r.stderr, r.stdout + r.stderr


def test_the_configmap_loads_and_the_grace_period_outlasts_the_drain(tmp_path):
    text = load("configmap.yaml")["data"]["serve.toml"]
    conf = tmp_path / "serve.toml"
    conf.write_text(text)
    r = subprocess.run([BIN, "serve", "--config", str(conf), "--check"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "STOCKADE_SERVE_DATABASE": "postgres://stockade:s3cret@db.example/stockade"})
    assert r.returncode == 0, r.stderr
    resolved = tomllib.loads(r.stdout)
    assert "s3cret" not in r.stdout and resolved["database"].startswith("postgres://stockade:")
    assert resolved["listen"] == "0.0.0.0:8321"
    pod = load("deployment.yaml")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > resolved["drain_seconds"] + pre_stop
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert env["STOCKADE_SERVE_ADVERTISE_URL"]["value"] == "http://$(POD_IP):8321"
    assert env["STOCKADE_SERVE_DATABASE"]["valueFrom"]["secretKeyRef"]["name"] == "stockade-database"
    # The HPA scales on a metric the service exports.
    hpa = load("hpa.yaml")["spec"]["metrics"]
    names = [m["pods"]["metric"]["name"] for m in hpa if m["type"] == "Pods"]
    assert names == ["stockade_runs_in_progress"]
    src = open(os.path.join(ROOT, "crates", "stockade-server", "src", "metrics.rs")).read()
    assert '"runs_in_progress"' in src


def test_the_pod_asks_for_what_the_docs_explain_and_no_more():
    pod = load("deployment.yaml")["spec"]["template"]["spec"]
    sc = pod["containers"][0]["securityContext"]
    assert pod["hostUsers"] is False and pod["automountServiceAccountToken"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["SETUID", "SETGID"]}
    assert sc["procMount"] == "Unmasked" and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True and not sc.get("privileged")
    doc = open(os.path.join(ROOT, "docs", "kubernetes.md")).read()
    for setting in ("hostUsers: false", "procMount: Unmasked", "seccompProfile: Unconfined",
                    "appArmorProfile: Unconfined", "`SETUID`, `SETGID`"):
        assert setting in doc, setting


def podlike(*args, timeout=180):
    return subprocess.run([sys.executable, PODLIKE, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pod_cache(tmp_path_factory):
    # The pod's emptyDir for stockade's cache, owned by the pod's root (host uid 200000).
    d = tmp_path_factory.mktemp("podcache")
    os.chmod(d, 0o777)
    return str(d)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="builds a pod's namespaces: needs root")
def test_a_jail_runs_in_a_pod_like_namespace_and_says_what_is_missing(pod_cache):
    env = f"XDG_CACHE_HOME={pod_cache}"
    # With the Deployment's capabilities: a trial jail and a real run work.
    r = podlike("--caps", "setuid,setgid", "--", "env", env, BIN, "doctor", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["trial"]["ok"] is True
    r = podlike("--caps", "setuid,setgid", "--", "env", env, BIN, "run", "-c", "import os; print(os.getuid(), 6 * 7)")
    assert r.returncode == 0 and r.stdout.split()[-1] == "42", r.stdout + r.stderr
    # Without them: refused at id-maps, and in a pod the hint names the setting.
    r = podlike("--caps", "", "--", "env", env, "KUBERNETES_SERVICE_HOST=10.0.0.1", BIN, "doctor", "--json")
    trial = json.loads(r.stdout)["trial"]
    assert r.returncode == 1 and trial["step"] == "id-maps" and "SETUID" in trial["hint"], trial
    # A masked /proc (the runtime's default procMount): refused at the root's /proc mount.
    r = podlike("--mask-proc", "--", "env", env, "KUBERNETES_SERVICE_HOST=10.0.0.1", BIN, "doctor", "--json")
    trial = json.loads(r.stdout)["trial"]
    assert r.returncode == 1 and "mount /proc" in trial["message"] and "procMount: Unmasked" in trial["hint"], trial
