-- One database per service (each owns its schema and migrations).
CREATE DATABASE registry;
CREATE DATABASE eligibility;
CREATE DATABASE disbursement;
CREATE DATABASE notifications;
