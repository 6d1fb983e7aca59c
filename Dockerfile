FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e ".[postgres,redis]"
EXPOSE 8000
CMD ["giaoban", "serve", "--host", "0.0.0.0"]
