"""Campaigns: a plan's score and train jobs worked through on a time budget, resumably.

* :mod:`~harness.campaign.plan` -- the TOML plan, validated before any work;
* :mod:`~harness.campaign.status` -- each job's state and CPU-hours left;
* :mod:`~harness.campaign.tasks` -- one worker's share of a job, stoppable at a cell or step;
* :mod:`~harness.campaign.runner` -- workers, budget, signals, lock, merging finished jobs;
* :mod:`~harness.campaign.cli` -- ``python -m harness campaign status|run|state``.

It sits on top of the runner (:mod:`harness.run`) and one-shot training
(:mod:`harness.oneshot`) and adds no other way of scoring: a campaign's results are those of
``pytest harness/ --shard=i/N`` followed by ``python -m harness merge``.
"""

from harness.campaign.plan import Plan, PlanError, ScoreJob, TrainJob, load_plan
from harness.campaign.runner import Campaign, CampaignError, CampaignLock, parse_budget
from harness.campaign.status import JobStatus, plan_status

__all__ = ["Campaign", "CampaignError", "CampaignLock", "JobStatus", "Plan", "PlanError",
           "ScoreJob", "TrainJob", "load_plan", "parse_budget", "plan_status"]
