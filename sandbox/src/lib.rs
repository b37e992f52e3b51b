//! efm-sandbox: local stand-ins for Maskinporten, the Service Registry and the Altinn brokers.
