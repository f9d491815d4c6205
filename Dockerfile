# The dynab console for EC2: `docker build -t dynab-console .` then
#   docker run -p 8501:8501 -e MONGODB_URI=mongodb://... \
#     -v /path/to/secrets.toml:/app/.streamlit/secrets.toml:ro dynab-console
# Users, roles and the OIDC provider come from the secrets file (see docs/console.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system dynab && useradd --system --gid dynab --home-dir /app dynab

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY services ./services
COPY console ./console
COPY .streamlit/config.toml ./.streamlit/config.toml
# Only the console's dependencies (the core plus the `console` extra, Authlib for st.login's
# OIDC included), at the versions the tests ran with: no Spark, no embedded server, no test tools.
RUN pip install -c constraints.txt ".[console]" && chown -R dynab:dynab /app

USER dynab
EXPOSE 8501

# Configuration by environment: MONGODB_URI (required), MONGODB_DB, and any Streamlit option
# as STREAMLIT_<SECTION>_<OPTION> (e.g. STREAMLIT_SERVER_PORT).
ENV STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('STREAMLIT_SERVER_PORT', '8501'), timeout=4)"

CMD ["python", "-m", "streamlit", "run", "console/app.py"]
