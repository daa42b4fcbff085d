"""Building blocks of the correlate and root-cause stages: the CMDB neighbourhood of a batch
(`topology`), text templates (`text`) and group-by keys (`timekeys`)."""
