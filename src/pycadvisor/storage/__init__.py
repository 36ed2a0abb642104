"""Storage drivers that receive every sample (cAdvisor ``cmd/internal/storage``)."""
