#!/bin/bash
# Topics and their dead-letter topics, created before the services start.
set -e
for topic in registry.households eligibility.decisions eligibility.signals disbursement.payments disbursement.aid disbursement.funds disbursement.relief notifications.notices notifications.alerts; do
  for name in "$topic" "$topic.dlq"; do
    /opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --create --if-not-exists \
      --topic "$name" --partitions 3 --replication-factor 1
  done
done
