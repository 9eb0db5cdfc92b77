# Two images from one file, each installing its own hash-checked lock:
#   web      gunicorn, and the batch `worker` (compose runs Celery in it): requirements-serving.txt,
#            no TensorFlow, scikit-learn or matplotlib; serves the .tflite model with LiteRT.
#   trainer  the `training` queue: requirements.txt (serving + the training extra).
# docker-compose.yml picks each with build.target; `docker build --target web .` builds one.
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=mnistsite.settings \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 curl fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 app
WORKDIR /app

# Each lock goes into a venv (/opt/venv, first on PATH) in a stage of its own, copied into
# the final image whole: nothing of pip's work is left in the image's layers.
# The serving venv keeps neither pip (nor setuptools) nor pip's bytecode, which would
# compile every module installed (92 of 506 MB, most never imported): the web stage
# compiles what serving imports (bin/compile_serving.py). bin/build-serving-venv does the same.
FROM base AS serving-packages
COPY requirements-serving.txt /tmp/
RUN python -m venv /opt/venv && pip install --no-compile --require-hashes --no-deps -r /tmp/requirements-serving.txt
RUN pip uninstall -y pip setuptools

FROM base AS training-packages
COPY requirements.txt /tmp/
RUN python -m venv /opt/venv && pip install --require-hashes --no-deps -r /tmp/requirements.txt

FROM base AS web
COPY --from=serving-packages /opt/venv /opt/venv
COPY --chown=app:app . .
# The image runs with DJANGO_ENV=production, whose static storage (whitenoise's
# CompressedManifestStaticFilesStorage) needs staticfiles.json and the hashed files: collect
# them under the same settings, or every page that links a static file answers 500.
# Production settings refuse to import without SECRET_KEY and ALLOWED_HOSTS; these values
# are throwaway and set for this one command only (not ENV: a container never sees them);
# the real ones come from the environment at run time. Under the same settings,
# bin/compile_serving.py imports what the web and the batch worker import (no database or
# broker is touched) and writes the bytecode of those modules only, in the venv and the
# apps: 33 MB instead of pip's 92. chown comes last so that the web's own collectstatic
# (docker-compose.yml, running as app) can rewrite the collected files.
RUN mkdir -p /app/var /app/media /app/staticfiles \
    && DJANGO_ENV=production ALLOWED_HOSTS=build \
       SECRET_KEY=build-only-hLOXt3A8IBkBxEbklqSgKfAJeAGAV7jFlYve1zfQ6hqFoxoziO \
       python manage.py collectstatic --noinput -v 0 \
    && DJANGO_ENV=production ALLOWED_HOSTS=build \
       SECRET_KEY=build-only-hLOXt3A8IBkBxEbklqSgKfAJeAGAV7jFlYve1zfQ6hqFoxoziO \
       python bin/compile_serving.py \
    && chown -R app:app /app/var /app/media /app/staticfiles
USER app
EXPOSE 8000
# The web's check: /api/health is 503 only when predictions cannot be served (no model, no
# database); a broker that is down gives 200 "degraded", so the web stays in service.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/api/health || exit 1
CMD ["gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py"]

FROM base AS trainer
COPY --from=training-packages /opt/venv /opt/venv
COPY --chown=app:app . .
RUN mkdir -p /app/var /app/media /app/artifacts \
    && chown -R app:app /app/var /app/media /app/artifacts
USER app
CMD ["celery", "-A", "mnistsite", "worker", "-Q", "training", "--concurrency", "1", "--loglevel", "INFO"]
