# rq-dashboard, pinned to the rq major trackhouse uses (job payloads must unpickle alike).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# rq-dashboard 0.9.0 imports `six` without declaring it.
RUN pip install --no-cache-dir rq-dashboard==0.9.0 six rq==3.0.0 \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin dashboard
USER dashboard

EXPOSE 9181
CMD ["rq-dashboard"]
