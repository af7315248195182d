-- Tenancy: users, projects and memberships. Every existing row moves into a project named
-- `default`, whose admin, the user `admin`, owns every existing API key, and the keys keep working.
CREATE TYPE "ProjectRole" AS ENUM ('viewer', 'member', 'admin');

CREATE TABLE "User" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "operator" BOOLEAN NOT NULL DEFAULT false,
    "oidcIssuer" TEXT,
    "oidcSubject" TEXT,
    "disabledAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "User_name_key" ON "User"("name");
CREATE UNIQUE INDEX "User_oidcIssuer_oidcSubject_key" ON "User"("oidcIssuer", "oidcSubject");

CREATE TABLE "Project" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Project_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "Project_name_key" ON "Project"("name");

CREATE TABLE "Membership" (
    "userId" UUID NOT NULL,
    "projectId" UUID NOT NULL,
    "role" "ProjectRole" NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Membership_pkey" PRIMARY KEY ("userId", "projectId")
);
CREATE INDEX "Membership_projectId_idx" ON "Membership"("projectId");
ALTER TABLE "Membership" ADD CONSTRAINT "Membership_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Membership" ADD CONSTRAINT "Membership_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "AuditEntry" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "userId" UUID,
    "apiKeyId" UUID,
    "via" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "route" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "resourceId" TEXT,
    "projectId" UUID,
    "statusCode" INTEGER NOT NULL,
    "ip" TEXT,
    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "AuditEntry_projectId_at_idx" ON "AuditEntry"("projectId", "at");
CREATE INDEX "AuditEntry_at_idx" ON "AuditEntry"("at");
-- Append-only: an UPDATE or DELETE of the log changes nothing. Rules, not a plpgsql trigger: the
-- migration runner splits scripts at every semicolon, a function body's included.
CREATE RULE "AuditEntry_no_update" AS ON UPDATE TO "AuditEntry" DO INSTEAD NOTHING;
CREATE RULE "AuditEntry_no_delete" AS ON DELETE TO "AuditEntry" DO INSTEAD NOTHING;

-- The default project and its admin, who owns the keys made before tenancy.
INSERT INTO "Project" ("name") VALUES ('default');
INSERT INTO "User" ("name", "operator") VALUES ('admin', true);
INSERT INTO "Membership" ("userId", "projectId", "role")
  SELECT u."id", p."id", 'admin' FROM "User" u, "Project" p WHERE u."name" = 'admin' AND p."name" = 'default';

ALTER TABLE "ApiKey" ADD COLUMN "userId" UUID;
ALTER TABLE "ApiKey" ADD COLUMN "projectId" UUID;
ALTER TABLE "ApiKey" ADD COLUMN "scope" TEXT NOT NULL DEFAULT 'write';
ALTER TABLE "ApiKey" ADD COLUMN "expiresAt" TIMESTAMP(3);
UPDATE "ApiKey" SET "userId" = (SELECT "id" FROM "User" WHERE "name" = 'admin');
ALTER TABLE "ApiKey" ALTER COLUMN "userId" SET NOT NULL;
CREATE INDEX "ApiKey_userId_idx" ON "ApiKey"("userId");
ALTER TABLE "ApiKey" ADD CONSTRAINT "ApiKey_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ApiKey" ADD CONSTRAINT "ApiKey_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Every dataset, sweep, experiment and prediction: its project and creator. A row made without a
-- project (the CLI's import on the server, rows made before tenancy) lands in `default`.
CREATE FUNCTION "default_project_id"() RETURNS UUID LANGUAGE sql STABLE AS $$
  SELECT "id" FROM "Project" WHERE "name" = 'default'
$$;
ALTER TABLE "Dataset" ADD COLUMN "projectId" UUID, ADD COLUMN "createdById" UUID;
ALTER TABLE "Sweep" ADD COLUMN "projectId" UUID, ADD COLUMN "createdById" UUID;
ALTER TABLE "Experiment" ADD COLUMN "projectId" UUID, ADD COLUMN "createdById" UUID;
ALTER TABLE "Prediction" ADD COLUMN "projectId" UUID, ADD COLUMN "createdById" UUID;
UPDATE "Dataset" SET "projectId" = (SELECT "id" FROM "Project" WHERE "name" = 'default');
UPDATE "Sweep" SET "projectId" = (SELECT "id" FROM "Project" WHERE "name" = 'default');
UPDATE "Experiment" SET "projectId" = (SELECT "id" FROM "Project" WHERE "name" = 'default'),
  "createdById" = (SELECT k."userId" FROM "ApiKey" k WHERE k."id" = "Experiment"."apiKeyId");
UPDATE "Sweep" s SET "createdById" = (SELECT e."createdById" FROM "Experiment" e WHERE e."sweepId" = s."id" AND e."createdById" IS NOT NULL LIMIT 1);
UPDATE "Prediction" SET "projectId" = (SELECT "id" FROM "Project" WHERE "name" = 'default');
ALTER TABLE "Dataset" ALTER COLUMN "projectId" SET NOT NULL, ALTER COLUMN "projectId" SET DEFAULT default_project_id();
ALTER TABLE "Sweep" ALTER COLUMN "projectId" SET NOT NULL, ALTER COLUMN "projectId" SET DEFAULT default_project_id();
ALTER TABLE "Experiment" ALTER COLUMN "projectId" SET NOT NULL, ALTER COLUMN "projectId" SET DEFAULT default_project_id();
ALTER TABLE "Prediction" ALTER COLUMN "projectId" SET NOT NULL, ALTER COLUMN "projectId" SET DEFAULT default_project_id();
ALTER TABLE "Dataset" ADD CONSTRAINT "Dataset_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Sweep" ADD CONSTRAINT "Sweep_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Experiment" ADD CONSTRAINT "Experiment_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Prediction" ADD CONSTRAINT "Prediction_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
CREATE INDEX "Sweep_projectId_idx" ON "Sweep"("projectId");
CREATE INDEX "Experiment_projectId_status_idx" ON "Experiment"("projectId", "status");
CREATE INDEX "Experiment_createdById_status_idx" ON "Experiment"("createdById", "status");
