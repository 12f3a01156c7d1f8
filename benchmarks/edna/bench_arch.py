"""Architecture ablation (speed vs quality): python benchmarks/edna/bench_arch.py CHANNELS STEM_STRIDE [HEAD].

Trains 5 epochs x 10,000 pairs on 250 bundled V4 references, validates edit-distance fidelity on the
other 68, embeds a simulated community (9 samples, 60 taxa) single-threaded and scores 97 % MOTUs (ARI).
Results of the runs quoted in BENCHMARKS.md: benchmarks/results/edna/ablation/arch_speed.jsonl.
"""
import time, torch, numpy as np, sys, json
torch.set_num_threads(1)
from ednaembed import simulate, train, io as eio
from ednaembed.cluster import IdentityClusterer
from dmlcore.metrics import clustering_metrics
ch, stem = int(sys.argv[1]), int(sys.argv[2])
refs = simulate.load_references()
rng=np.random.default_rng(0)
perm=rng.permutation(len(refs)); tr=refs.iloc[perm[:250]]; va=refs.iloc[perm[250:]]
enc={**train.EncoderConfig().to_dict(), "channels": ch, "stem_stride": stem, "head": sys.argv[3] if len(sys.argv) > 3 else "pool"}
s=train.TrainSettings(epochs=5, n_pairs=10000, seed=0, encoder=enc)
t=time.time()
m,h,info=train.train_encoder(tr.sequence.tolist(), labels=tr.genus.tolist(), settings=s, val_sequences=va.sequence.tolist(), progress=False)
tt=time.time()-t
sim=simulate.simulate_community(n_samples=9, n_habitats=3, reads_per_sample=300, n_taxa=60, seed=3)
u=eio.dereplicate(sim.reads[["sample_id","sequence","count"]]); seqs=u.sequence.tolist()
truth=sim.truth().set_index("sequence").loc[u["sequence"],"ref_id"].to_numpy()
t=time.time(); Z=train.embed_sequences(m, seqs, progress=False); te=time.time()-t
c=IdentityClusterer(identity=0.97,k=8).fit(seqs,Z,abundances=u.abundance)
print(json.dumps({"ch":ch,"stem":stem,"train_s":tt,"val":h[["val_rmse","val_spearman"]].iloc[-1].to_dict(),"embed_per_s":len(seqs)/te,"ari":clustering_metrics(truth,c.labels_)["ari"],"n_align":c.n_alignments_}))
