# The fernn demo in a container, following the Hugging Face Spaces Docker conventions (a Space whose
# README.md front matter says `sdk: docker` and `app_port: 8501`; see README, "Deploying"): a non-root
# user with uid 1000, the app on port 8501, CPU-only torch, a health check on Streamlit's own endpoint.
#   docker build -t fernn-demo . && docker run --rm -p 8501:8501 fernn-demo
# scripts/deploy_check.sh replays these steps without a container engine (what was verified here).
FROM python:3.11-slim

# Spaces runs the container as uid 1000; files written at run time belong to that user.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FERNN_RUN_SLOTS=2 \
    FERNN_CACHE_MB=512 \
    FERNN_TORCH_THREADS=2
WORKDIR $HOME/app

# torch's CPU wheel first, so requirements.txt's torch==2.13.0 is already met and pip never fetches
# a multi-GB CUDA build; then the rest, before the source so code edits keep this layer cached.
COPY --chown=user requirements.txt ./
RUN pip install --user torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --user -r requirements.txt

COPY --chown=user . .

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
# .streamlit/config.toml listens on 127.0.0.1 for a proxy on the same host; in a container the
# platform's proxy reaches the app through the container's interface.
CMD ["streamlit", "run", "app.py", "--server.headless", "true", "--server.port", "8501", "--server.address", "0.0.0.0"]
