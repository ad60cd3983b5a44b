#!/usr/bin/env bash
# Replays the Dockerfile's steps where no container engine runs: a fresh non-root user, a fresh virtual
# environment, the committed tree, the same install, environment and command; then waits for the
# health check and opens the app in Debian's Chromium (Playwright) as that user.
#   sudo bash scripts/deploy_check.sh [PORT]      (run as root: it creates the user; default port 8765)
# Differences from the image, all forced by this machine: the user's uid is whatever useradd gives
# (uid 1000 is taken here), and torch's CPU wheel comes from pip's configured sources (a local CPU
# wheel here) instead of the PyTorch CPU index the Dockerfile names.
set -euo pipefail
PORT=${1:-8765}
DEPLOY_USER=fernn-deploy
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "deploy_check: run as root (it creates the user $DEPLOY_USER)" >&2; exit 2; }
command -v /usr/bin/chromium >/dev/null || { echo "deploy_check: needs Debian's chromium (apt-get install chromium)" >&2; exit 2; }
if id "$DEPLOY_USER" >/dev/null 2>&1; then userdel --remove "$DEPLOY_USER" 2>/dev/null || true; fi
useradd --create-home "$DEPLOY_USER"
HOME_DIR=$(getent passwd "$DEPLOY_USER" | cut -d: -f6)
mkdir "$HOME_DIR/app"
git -C "$ROOT" archive HEAD | tar -x -C "$HOME_DIR/app"   # COPY . . (the committed tree, nothing ignored)
chown -R "$DEPLOY_USER:$DEPLOY_USER" "$HOME_DIR/app"
# pip's sources as the caller configured them (PIP_* variables: indexes, local wheels), nothing else of its environment.
as_user() { runuser -u "$DEPLOY_USER" -- env -i HOME="$HOME_DIR" PATH="$HOME_DIR/venv/bin:/usr/bin:/bin" \
  $(env | grep -E '^PIP_(INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS|CERT|DEFAULT_TIMEOUT)=' | tr '\n' ' ') "$@"; }

echo "== install (fresh venv, as $DEPLOY_USER, uid $(id -u "$DEPLOY_USER"))"
start=$(date +%s)
as_user /usr/bin/python3.11 -m venv "$HOME_DIR/venv"
# The CPU build by its local version label (it satisfies requirements.txt's torch==2.13.0).
as_user bash -c "cd ~/app && pip install -q 'torch==2.13.0+cpu' && pip install -q -r requirements.txt"
as_user python -c 'import torch; assert torch.version.cuda is None, f"torch {torch.__version__} is not the CPU build"'
echo "installed in $(( $(date +%s) - start )) s: $(as_user python -c 'import torch, streamlit, safetensors; print("torch", torch.__version__, "streamlit", streamlit.__version__, "safetensors", safetensors.__version__)'); venv $(du -sh "$HOME_DIR/venv" | cut -f1)"

echo "== run: streamlit run app.py (the image's CMD and environment), port $PORT"
runuser -u "$DEPLOY_USER" -- env -i HOME="$HOME_DIR" PATH="$HOME_DIR/venv/bin:/usr/bin:/bin" PYTHONUNBUFFERED=1 \
  FERNN_RUN_SLOTS=2 FERNN_CACHE_MB=512 FERNN_TORCH_THREADS=2 \
  bash -c "cd ~/app && exec streamlit run app.py --server.headless true --server.port $PORT --server.address 0.0.0.0" \
  > /tmp/deploy-check-streamlit.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if [ "$(curl -fsS "http://127.0.0.1:$PORT/_stcore/health" 2>/dev/null)" = ok ]; then break; fi
  sleep 1
done
echo "health: $(curl -fsS "http://127.0.0.1:$PORT/_stcore/health")"

echo "== open the app in Chromium as $DEPLOY_USER"
as_user python - "$PORT" <<'PY'
import sys
from playwright.sync_api import expect, sync_playwright

flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
    page = browser.new_page(viewport={"width": 1440, "height": 1050})
    page.goto(f"http://127.0.0.1:{sys.argv[1]}/?model_b=fernn.pt", timeout=120_000)  # an older link's model name
    for label in ("G-RNN mean MSE", "FERNN mean MSE"):
        expect(page.get_by_text(label, exact=False).first).to_be_visible(timeout=180_000)
    headline = page.get_by_text("moves at", exact=False).first.inner_text()
    page.screenshot(path="/tmp/deploy-check.png")
    print("page:", page.title(), "|", " ".join(headline.split())[:160])
    browser.close()
PY
echo "deploy_check: passed (screenshot /tmp/deploy-check.png, server log /tmp/deploy-check-streamlit.log)"
