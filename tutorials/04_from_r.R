# 04 · ecodml from R: both pipelines through reticulate, data.frames in and out
#
#   Rscript tutorials/04_from_r.R [PYTHON] [OUTDIR]
#
# PYTHON: the python of the package's R environment (default: the RETICULATE_PYTHON environment
#         variable, else .venv-r/bin/python of the repository, built by `make r-env`).
# OUTDIR: where to write (default: tutorial_output/04_from_r).
# See tutorials/04_from_r.md for the explanations. Runs in about a minute on 2 CPU cores.
# Needs the R packages reticulate, phyloseq, vegan and rhdf5 (Debian: r-cran-reticulate,
# r-bioc-phyloseq, r-cran-vegan, r-bioc-rhdf5).

args <- commandArgs(trailingOnly = TRUE)
python <- if (length(args) >= 1) args[[1]] else Sys.getenv("RETICULATE_PYTHON", ".venv-r/bin/python")
out <- if (length(args) >= 2) args[[2]] else file.path("tutorial_output", "04_from_r")
dir.create(out, recursive = TRUE, showWarnings = FALSE)

# ---- 1. point reticulate at the package's Python, before anything else touches Python
library(reticulate)
use_python(python, required = TRUE)
ednaembed <- import("ednaembed")
ecoreid <- import("ecoreid")
simulate <- import("ednaembed.simulate")   # simulated eDNA runs
datasets <- import("ecoreid.datasets")     # generated photo-ID data sets
# (import them now: phyloseq, loaded below, has an import() of its own that masks reticulate's)
cat("Python:", py_config()$python, "\n")

# ---- 2. eDNA: simulate a small run from the bundled 16S references (your own FASTQ files go here)
sim <- simulate$simulate_community(n_samples = 12L, n_habitats = 3L, reads_per_sample = 500L, seed = 0L)
input <- file.path(out, "edna_input")
invisible(simulate$write_sample_files(sim, input, seed = 0L))

# the sample sheet is an ordinary R data.frame: add or fix metadata in R before the run
sheet <- read.csv(file.path(input, "samples.csv"), stringsAsFactors = FALSE)
sheet$season <- ifelse(seq_len(nrow(sheet)) %% 2 == 0, "spring", "autumn")
reads <- file.path(input, sheet$file)
# a taxonomic reference: any FASTA(.gz) with SINTAX (tax=d:...,g:...) or dada2/SILVA headers;
# here the package's bundled 16S V4 references (a pathlib object in Python: py_str gives the path)
reference <- py_str(simulate$bundled_references_path())

res_dir <- file.path(out, "edna_results")
res <- ednaembed$run(reads, samples = sheet, out = res_dir, overwrite = TRUE, reference = reference,
                     max_ee = 2, map_method = "pca", permutations = 199L, seed = 0L, progress = FALSE)

# every table is an R data.frame as it arrives: no conversion code
motu_table <- res$motu_table                    # sample_id + one column per MOTU
sample_map <- res$sample_map                    # sample_id, x, y + the sheet's columns
assignments <- res$read_assignments             # motu_id: a factor, NA for unassigned sequences
taxonomy <- res$taxonomy                        # motu_id, domain .. genus, <rank>_confidence
str(sample_map)
cat(sprintf("%d samples, %d MOTUs, %d distinct sequences (%d unassigned)\n",
            nrow(motu_table), ncol(motu_table) - 1, nrow(assignments), sum(is.na(assignments$motu_id))))
cat(sprintf("taxonomy: %d MOTUs, %d named at genus, %d at family\n", nrow(taxonomy),
            sum(taxonomy$genus != ""), sum(taxonomy$family != "")))
print(head(taxonomy[, c("motu_id", "family", "genus", "genus_confidence")]))

# the faithfulness report is a nested R list
f <- res$report$faithfulness$map
cat(sprintf("map vs Bray-Curtis: Mantel r = %.2f (p = %.3f); vs sequences: r = %.2f\n",
            f$mantel_braycurtis$r, f$mantel_braycurtis$p, f$mantel_sequence$r))

# ---- 3. a base-R plot of the sample map (no ggplot2 needed)
habitats <- sort(unique(sample_map$habitat))
cols <- setNames(c("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")[seq_along(habitats)], habitats)
png(file.path(out, "sample_map.png"), width = 900, height = 720, res = 120)
plot(sample_map$x, sample_map$y, pch = ifelse(sample_map$season == "spring", 19, 17),
     col = cols[sample_map$habitat], cex = 1.6, xlab = "map axis 1", ylab = "map axis 2",
     main = sprintf("%d samples, %d MOTUs (Mantel r vs Bray-Curtis %.2f)",
                    nrow(sample_map), ncol(motu_table) - 1, f$mantel_braycurtis$r))
text(sample_map$x, sample_map$y, sample_map$sample_id, pos = 3, cex = 0.6)
legend("topright", legend = c(habitats, "spring", "autumn"), col = c(cols, "grey30", "grey30"),
       pch = c(rep(15, length(habitats)), 19, 17), bty = "n", cex = 0.8)
invisible(dev.off())

# the MOTU table goes straight into R's ecology tools, e.g. Bray-Curtis with base R:
counts <- as.matrix(motu_table[, -1])
rownames(counts) <- motu_table$sample_id
rel <- counts / rowSums(counts)
bray <- as.matrix(dist(rel, method = "manhattan")) / 2   # Bray-Curtis on relative abundances
write.csv(round(bray, 4), file.path(out, "bray_curtis.csv"))

# ---- 3b. phyloseq and vegan: the run's table.biom (BIOM 2.1) or its CSV trio
suppressPackageStartupMessages({
  library(rhdf5)      # biomformat reads BIOM 2.1 (HDF5) through rhdf5
  library(phyloseq)
  library(vegan)
  library(ggplot2)
})
ps <- import_biom(file.path(res_dir, "table.biom"))     # counts, taxonomy and the sample sheet
# the same object from the three CSV files, for users without BIOM (rank names in the header)
otu <- read.csv(file.path(res_dir, "otu_table.csv"), row.names = 1, check.names = FALSE)
tax <- read.csv(file.path(res_dir, "tax_table.csv"), row.names = 1, na.strings = "")
sam <- read.csv(file.path(res_dir, "sample_data.csv"), row.names = 1)
ps_csv <- phyloseq(otu_table(as.matrix(otu), taxa_are_rows = TRUE), tax_table(as.matrix(tax)), sample_data(sam))
colnames(tax_table(ps)) <- colnames(tax_table(ps_csv))  # BIOM stores the ranks unnamed
stopifnot(identical(sort(taxa_names(ps)), sort(taxa_names(ps_csv))), nsamples(ps) == nsamples(ps_csv))
cat(sprintf("phyloseq: %d samples, %d taxa, ranks %s\n", nsamples(ps), ntaxa(ps),
            paste(rank_names(ps), collapse = ",")))

# ordination (PCoA of Bray-Curtis, through vegan) coloured by habitat, and PERMANOVA with vegan
rel_ps <- transform_sample_counts(ps, function(x) x / sum(x))
ord <- ordinate(rel_ps, method = "PCoA", distance = "bray")
p_ord <- plot_ordination(rel_ps, ord, color = "habitat", shape = "season") +
  geom_point(size = 3) + ggtitle("PCoA of Bray-Curtis (phyloseq + vegan)")
ggsave(file.path(out, "ordination.png"), p_ord, width = 6, height = 4.5, dpi = 120)
perm <- adonis2(phyloseq::distance(rel_ps, "bray") ~ habitat, data = data.frame(sample_data(rel_ps)),
                permutations = 199)
cat(sprintf("PERMANOVA (vegan::adonis2) habitat: R2 = %.2f, p = %.3f\n", perm$R2[1], perm$`Pr(>F)`[1]))

# relative abundance per sample by phylum (units not named at phylum grouped as NA)
phy <- tax_glom(rel_ps, taxrank = "phylum", NArm = FALSE)
p_bar <- plot_bar(phy, x = "Sample", fill = "phylum") + facet_wrap(~habitat, scales = "free_x") +
  ylab("relative abundance") + ggtitle("MOTUs by phylum (ednaembed taxonomy)")
ggsave(file.path(out, "phylum_barplot.png"), p_bar, width = 9, height = 6, dpi = 120)

# ---- 4. photo-ID: generate photos (options as an R list through SynthConfig$from_dict), run from R
photos <- file.path(out, "photos")
synth <- datasets$SynthConfig$from_dict(list(n_individuals = 10L, photos_per_individual = 5L, seed = 1L))
invisible(datasets$generate_dataset(photos, config = synth, overwrite = TRUE))
catalog <- read.csv(file.path(photos, "catalog.csv"), stringsAsFactors = FALSE, na.strings = character())

# options as an R list; ReidConfig.from_dict turns it into the configuration the pipeline takes
config <- ecoreid$ReidConfig$from_dict(list(
  model = list(backbone = "small", image_size = c(48L, 64L), embedding_size = 32L, epochs = 2L, batch_size = 16L),
  shortlist_k = 10L, network_k = 5L, vlad_words = 16L, vlad_dim = 32L, seed = 0L))
reid <- ecoreid$run(file.path(photos, "images"), catalog = file.path(photos, "catalog.csv"),
                    truth = file.path(photos, "truth.csv"), config = config,
                    out = file.path(out, "reid_results"), overwrite = TRUE, progress = FALSE)

a <- reid$assignments       # one row per query photo
print(head(a[, c("image", "proposed_individual", "score", "is_new")]))
ev <- reid$report$evaluation
cat(sprintf("%d query photos, %d flagged new; top-1 %.2f, BAKS %.2f, BAUS %.2f\n",
            nrow(a), sum(a$is_new), ev$top1, ev$baks, ev$baus))
cat("review page:", file.path(out, "reid_results", "review.html"), "\n")

# counts of query photos per proposed individual, in base R
tab <- sort(table(a$proposed_individual), decreasing = TRUE)
write.csv(data.frame(individual = names(tab), photos = as.integer(tab)), file.path(out, "photos_per_individual.csv"),
          row.names = FALSE)
cat("done; outputs in", normalizePath(out), "\n")
